// What `pnpm pack` and `pnpm publish` put in a published package's package.json: no
// devDependencies. They name private workspace packages (`@execstream/server` for the tests)
// that npm cannot resolve and an installer never needs.
module.exports = {
  hooks: {
    beforePacking(pkg) {
      delete pkg.devDependencies;
      return pkg;
    },
  },
};
