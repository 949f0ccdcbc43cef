#!/usr/bin/env python3
"""The inputs of tests/matrix.bats, written into the current directory.

Each record input X.ndjson has a twin X.want: the records that must come
out of it, as refill-replay(1) and `refill-transform -- cat` write them (LF
after each, CR dropped).  A bad input holds three records, the second bad,
so X.want holds the first and the third.  X.prov is the same input as
a provenance stamp, the input of refill-lineage(1).

Made at test time, not kept in the repository: huge.ndjson is 100 MiB and
bomb.gz inflates to 1 GiB.
"""

import gzip
import hashlib

GOOD1, GOOD3 = b'{"k":1}\n', b'{"k":3}\n'


def put(name, data):
    with open(name, 'wb') as f:
        f.write(data)


def bad(name, line2):
    put(name + '.ndjson', GOOD1 + line2 + b'\n' + GOOD3)
    put(name + '.want', GOOD1 + GOOD3)


def records():
    put('empty.ndjson', b'')
    put('empty.want', b'')
    put('blank.ndjson', b'\n  \n\t\r\n\r\n')
    put('blank.want', b'')
    put('nofinal.ndjson', b'{"k":1}\n{"k":2}')
    put('nofinal.want', b'{"k":1}\n{"k":2}\n')
    put('crlf.ndjson', b'{"k":1}\r\n{"k":2}\r\n')
    put('crlf.want', b'{"k":1}\n{"k":2}\n')
    bad('nul', b'{"k":"a\0b"}')
    bad('utf8', b'{"k":"\xff"}')
    bad('surrogate', b'{"k":"\\ud800"}')
    bad('dupkey', b'{"k":2,"k":3}')
    bad('deep', b'{"k":' + b'[' * 10000 + b']' * 10000 + b'}')
    bad('1e400', b'{"k":1e400}')
    # -0 is 0, and so is 1e-400, which rounds to it (refill(7), Records).
    put('negzero.ndjson', b'{"k":1,"z":-0}\n{"k":2,"z":1e-400}\n')
    put('negzero.want', b'{"k":1,"z":-0}\n{"k":2,"z":1e-400}\n')
    put('negzero.canon', b'{"k":1,"z":0}\n{"k":2,"z":0}\n')
    # Line 2 is 100 MiB and a few bytes, over the default --max-line.
    with open('huge.ndjson', 'wb') as f:
        f.write(GOOD1 + b'{"k":"')
        block = b'a' * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write(b'"}\n' + GOOD3)


def gz():
    whole = gzip.compress(GOOD1 + b'{"k":2}\n' + GOOD3, mtime=0)
    put('truncated.gz', whole[:30])
    put('trailing.gz', whole + b'garbage')
    put('members.gz', gzip.compress(GOOD1, mtime=0) +
        gzip.compress(b'{"k":2}\n' + GOOD3, mtime=0))
    put('members.want', GOOD1 + b'{"k":2}\n' + GOOD3)
    # 1 GiB of zeros in a string that never ends, in 1025 members of about
    # 1 KiB each: a reader must stop at --max-line, not at the end.
    zeros = gzip.compress(bytes(1 << 20), 9, mtime=0)
    with open('bomb.gz', 'wb') as f:
        f.write(gzip.compress(GOOD1 + b'{"k":"', mtime=0))
        for _ in range(1024):
            f.write(zeros)


def stamps():
    # A stamp of refill-prov(5) with the members refill-lineage checks: the
    # output 00...02, made by refill-split from one input.
    s = (b'{"ended":"2025-07-01T00:00:01Z","format":"refill-prov/1",'
         b'"inputs":[{"path":"src.ndjson","records":2,"sha256":"' +
         b'0' * 63 + b'1"}],"output":{"dataset_digest":"' + b'0' * 64 +
         b'","path":"made.ndjson","records":2,"sha256":"' + b'0' * 63 +
         b'2"},"program":{"name":"refill-split"},'
         b'"started":"2025-07-01T00:00:00Z","transform":null}')
    body = s[:-1]		# without its closing brace

    def extra(name, member):
        put(name + '.prov', body + b',"x":' + member + b'}\n')

    put('good.prov', s + b'\n')
    put('empty.prov', b'')
    put('blank.prov', b'\n  \n')
    put('nofinal.prov', s)
    put('crlf.prov', s + b'\r\n')
    extra('nul', b'"a\0b"')
    extra('utf8', b'"\xff"')
    extra('surrogate', b'"\\ud800"')
    put('dupkey.prov', body + b',"format":"refill-prov/1"}\n')
    extra('deep', b'[' * 10000 + b']' * 10000)
    extra('1e400', b'1e400')
    extra('negzero', b'-0')
    with open('huge.prov', 'wb') as f:
        f.write(body + b',"x":"')
        block = b'a' * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write(b'"}\n')


def many():
    # Enough output to fill a pipe many times over, for | head -1.
    with open('many.ndjson', 'wb') as f:
        for i in range(50000):
            f.write(b'{"k":%d,"pad":"%s"}\n' % (i, b'x' * 40))
    with open('many.rules', 'w') as f:
        for i in range(20):
            f.write('required absent%d\n' % i)
    # A stamp of 20000 inputs, for refill-lineage show of output 00...01.
    inputs = ','.join('{"path":"in/%05d.ndjson","records":1,"sha256":"%s"}'
                      % (i, hashlib.sha256(b'%d' % i).hexdigest())
                      for i in range(20000))
    with open('wide.prov', 'w') as f:
        f.write('{"ended":"2025-07-01T00:00:01Z","format":"refill-prov/1",'
                '"inputs":[%s],"output":{"dataset_digest":"%s","path":'
                '"out.ndjson","records":20000,"sha256":"%s"},"program":'
                '{"name":"refill-split"},"started":"2025-07-01T00:00:00Z",'
                '"transform":null}\n' % (inputs, '0' * 64, '0' * 63 + '1'))


if __name__ == '__main__':
    records()
    gz()
    stamps()
    many()
