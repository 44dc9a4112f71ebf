export { EXIT, exitCodeOf } from './exit-codes.ts';
export { main } from './main.ts';
