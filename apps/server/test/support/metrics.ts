import { get } from 'node:http';

/**
 * A metric of the server at `baseUrl`, summed over its series (those of one `surface` when
 * given), read on a connection of its own that closes after the answer (`agent: false`), so that
 * the only connection it adds is the one being answered.
 */
export function metric(
  baseUrl: string,
  name: string,
  surface?: 'sse' | 'trpc' | 'ag-ui',
): Promise<number> {
  const series = surface === undefined ? null : `${name}{surface="${surface}"}`;
  return new Promise((resolve, reject) => {
    get(`${baseUrl}/metrics`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve(
          text
            .split('\n')
            .filter((row) =>
              series === null
                ? row.startsWith(`${name}{`) || row.startsWith(`${name} `)
                : row.startsWith(`${series} `),
            )
            .reduce((sum, row) => sum + Number(row.split(' ').at(-1)), 0),
        ),
      );
    }).on('error', reject);
  });
}
