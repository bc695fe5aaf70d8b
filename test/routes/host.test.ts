import t from 'tap'
import { parseHost } from '../../src/routes/host.js'

const accepted: [string, string, string | undefined][] = [
  // Host header, hostname, port
  ['a.test', 'a.test', undefined],
  ['localhost', 'localhost', undefined],
  ['A.Test', 'a.test', undefined],
  ['APP.EXAMPLE.COM', 'app.example.com', undefined],
  ['a.test.', 'a.test', undefined],
  ['A.TEST.', 'a.test', undefined],
  ['a.test:8080', 'a.test', '8080'],
  ['a.test.:8080', 'a.test', '8080'],
  ['a.test:1', 'a.test', '1'],
  ['a.test:65535', 'a.test', '65535'],
  // The default ports of http and https name the host itself.
  ['a.test:80', 'a.test', undefined],
  ['a.test:443', 'a.test', undefined],
  ['a.test.:443', 'a.test', undefined],
  ['my_host.test', 'my_host.test', undefined],
  ['my-host-1.test', 'my-host-1.test', undefined],
  ['xn--bcher-kva.test', 'xn--bcher-kva.test', undefined],
  ['127.0.0.1', '127.0.0.1', undefined],
  ['127.0.0.1:3000', '127.0.0.1', '3000'],
  ['10.1.2.3:80', '10.1.2.3', undefined],
  ['[::1]', '[::1]', undefined],
  ['[::1]:8443', '[::1]', '8443'],
  ['[::1]:443', '[::1]', undefined],
  ['[2001:DB8::1]', '[2001:db8::1]', undefined],
  ['[2001:db8::1]:9000', '[2001:db8::1]', '9000'],
  ['[::ffff:127.0.0.1]:80', '[::ffff:127.0.0.1]', undefined],
]
for (const [header, hostname, port] of accepted) {
  t.test(`accepts ${JSON.stringify(header)}`, async (t) => {
    t.same(parseHost(header), { hostname, port })
  })
}

const refused: [string | undefined, string][] = [
  [undefined, 'absent'],
  ['', 'empty'],
  [' ', 'a space'],
  [' a.test', 'leading space'],
  ['a.test ', 'trailing space'],
  ['a .test', 'inner space'],
  ['a\tb.test', 'tab'],
  ['a.test\r\nx: y', 'CRLF'],
  ['a.test\0', 'NUL'],
  ['user@a.test', 'userinfo'],
  ['user:pw@a.test', 'userinfo with password'],
  ['a.test@b.test', 'userinfo naming another host'],
  ['a.test/path', 'path'],
  ['a.test/', 'slash'],
  ['a.test:8080/x', 'port then path'],
  ['a.test?x=1', 'query'],
  ['a.test#x', 'fragment'],
  ['a.test\\b', 'backslash'],
  ['a.test:65536', 'port above 65535'],
  ['a.test:99999', 'port far above 65535'],
  ['a.test:123456', 'six-digit port'],
  ['a.test:', 'empty port'],
  ['a.test:-1', 'negative port'],
  ['a.test:8o', 'port with a letter'],
  ['a.test:80:80', 'two ports'],
  ['a..test', 'empty label'],
  ['.a.test', 'leading dot'],
  ['a.test..', 'two trailing dots'],
  ['.', 'only a dot'],
  ['a$b.test', 'dollar'],
  ['a%2eb.test', 'percent escape'],
  ['*.a.test', 'wildcard'],
  ['a.test,b.test', 'two hosts joined by a comma'],
  ['b\u00fccher.test', 'non-ASCII'],
  ['::1', 'IPv6 without brackets'],
  ['[::1', 'unclosed bracket'],
  ['::1]', 'unopened bracket'],
  ['[::1]x', 'junk after bracket'],
  ['[::1]:', 'IPv6 with empty port'],
  ['[::1]:65536', 'IPv6 with port above 65535'],
  ['[g::1]', 'bad IPv6 character'],
  ['[a.test]', 'name in brackets'],
  ['a'.repeat(262), 'longer than a host name can be'],
]
for (const [header, why] of refused) {
  t.test(`refuses ${JSON.stringify(header)?.slice(0, 40)} (${why})`, async (t) => {
    t.equal(parseHost(header), undefined)
  })
}
