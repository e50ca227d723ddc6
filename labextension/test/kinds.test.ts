/**
 * The Data panel names no kind of space: every label, field, help text and link comes from the
 * server (the drivers' typed fields), so a site's own kind works without a change here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

const DRIVERS = join(__dirname, '..', '..', 'nbspaces', 'drivers');
const SOURCES = join(__dirname, '..', 'src');
// Services the drivers know by address (a Nextcloud's app passwords), which the panel must not.
const SERVICES = ['b2drop', 'nextcloud', 'eudat'];

/** Each built-in driver's `kind` and `kind_label`, as its module declares them. */
function declaredKinds(): { kinds: string[]; labels: string[] } {
  const kinds: string[] = [];
  const labels: string[] = [];
  for (const file of readdirSync(DRIVERS).filter(f => f.endsWith('.py'))) {
    const text = readFileSync(join(DRIVERS, file), 'utf8');
    for (const m of text.matchAll(/^\s+kind = "([^"]+)"/gm)) {
      kinds.push(m[1]);
    }
    for (const m of text.matchAll(/^\s+kind_label = "([^"]+)"/gm)) {
      labels.push(m[1]);
    }
  }
  return { kinds, labels };
}

describe('the panel is built from what the server sends', () => {
  it('names no kind, kind label or service in its sources', () => {
    const { kinds, labels } = declaredKinds();
    // The drivers are where the test looks: it cannot pass by finding none.
    expect(kinds.length).toBeGreaterThanOrEqual(6);
    expect(labels.length).toBe(kinds.length);
    const words = [...kinds, ...SERVICES].map(
      w => new RegExp(`\\b${w}\\b`, 'i')
    );
    const found: string[] = [];
    for (const file of readdirSync(SOURCES).filter(f => f.endsWith('.ts'))) {
      const lines = readFileSync(join(SOURCES, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const lower = line.toLowerCase();
        const named =
          words.some(w => w.test(line)) ||
          labels.some(l => lower.includes(l.toLowerCase()));
        if (named) {
          found.push(`${file}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(found).toEqual([]);
  });
});
