import t from 'tap'
import { PrefixTree } from '../../src/routes/prefix-tree.js'

const bruteForce = (prefixes: string[], path: string) => prefixes.filter((p) => path.startsWith(p)).sort((a, b) => b.length - a.length)[0]

t.test('longest prefix wins; plain string prefixes, not segments', async (t) => {
  const tree = new PrefixTree<string>()
  for (const p of ['/', '/admin', '/admin/', '/api/v1/', '/api/v2/users', '/ap']) tree.set(p, p)
  const cases: [string, string | undefined][] = [
    ['/', '/'],
    ['/x', '/'],
    ['/admin', '/admin'],
    ['/admin-panel', '/admin'],
    ['/admin/', '/admin/'],
    ['/admin/x', '/admin/'],
    ['/Admin', '/'],
    ['/api/v1/x', '/api/v1/'],
    ['/api/v2/user', '/ap'],
    ['/api/v2/users/7', '/api/v2/users'],
    ['/apple', '/ap'],
  ]
  for (const [path, expected] of cases) t.equal(tree.longest(path), expected, path)
  t.equal(new PrefixTree<string>().longest('/x'), undefined, 'empty tree finds nothing')
})

t.test('agrees with a brute-force scan on random prefixes and paths', async (t) => {
  let seed = 42
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  const alphabet = '/ab.c-'
  const word = (max: number) => '/' + Array.from({ length: Math.floor(random() * max) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
  const prefixes = [...new Set(Array.from({ length: 300 }, () => word(8)))]
  const tree = new PrefixTree<string>()
  for (const p of prefixes) tree.set(p, p)
  let mismatches = 0
  for (let i = 0; i < 5000; i++) {
    const path = word(12)
    if (tree.longest(path) !== bruteForce(prefixes, path)) mismatches++
  }
  t.equal(mismatches, 0)
})
