# The 2009 idioms are kept on purpose (open/close, dict.keys(), except Exception).
# ruff: noqa: SIM115, SIM118, BLE001
"""A script in the style of SRPy 0.2 (2009): only the original names.

Usage: python original_style_script.py [ENGINE_URI]

With a URI it uses that engine (the token comes from SRPY_TOKEN), without
one it starts its own with newSubEngine(), as the original examples do.
Every line below is taken from, or written like, the examples of the
original documentation; the script must run unchanged.
"""

import os
import sys
import tempfile

import srpy

if len(sys.argv) > 1:
    uri = sys.argv[1]
    proc = None
else:
    uri, proc = srpy.newSubEngine()

pyeng = srpy.PythonEngine(uri)

# variables
pyeng.set(a=5, b=3)
c = 1
pyeng.set(c=c)
print(pyeng.get(['a', 'b', 'c']))
print(sorted(pyeng.get()))
print(pyeng.get('a'))
pyeng.clear()
print(pyeng.get())

# code
print(pyeng.eval("a+b", a=2, b=3))
pyeng.exe('import math; n = math.sqrt(n)', n=2)
print(pyeng.get('n'))
print(pyeng.vexe('import math; a=math.sqrt(n); b=a**2', get=['a', 'b'], n=2))

# modules
folder = tempfile.mkdtemp()
f = open(os.path.join(folder, 'srpyinfo_example.py'), 'w')
f.write('def info():\n    return "installed"\n')
f.close()
sys.path.append(folder)
pyeng.install('srpyinfo_example')
pyeng.imp('math', 'types', 'srpyinfo_example')
print(pyeng.eval('srpyinfo_example.info()'))

# namespace proxy and associated functions
pyeng.ns.a = 3
print(pyeng.ns.a)
print(pyeng.ns.math.sqrt(3))
pyeng.exe('from math import sqrt')
sqrt = pyeng.associateFunction('sqrt')
print(sqrt(3))
print(sqrt.__doc__ is not None)

# engine facts
info = pyeng.whoami()
print(sorted(k for k in info.keys() if k[0].isupper()))
print(pyeng.getURI() == uri)
print(pyeng.getInfoString().splitlines()[0].startswith('PythonEngine'))
print(pyeng.getHostname() == info['Hostname'])
print(pyeng.getSystem())
pyeng.setGroup('mygroup')
print(pyeng.getGroup())
print(pyeng.name != '', pyeng.group)
print(repr(pyeng).startswith('<PythonEngine'))

# state and benchmark
print(pyeng.isBusy())
pyeng.wait()
print(pyeng.ping())
nettime, proctime, busy = pyeng.benchmark()
print(nettime > 0, proctime > 0, busy)
print(srpy.detectNCPUs() > 0)

# errors come back as exceptions
try:
    pyeng.eval('1/0')
except ZeroDivisionError:
    print('ZeroDivisionError caught')
try:
    pyeng.get('lets cause an error')
except Exception as x:
    print('error caught:', type(x).__name__)

try:
    srpy.PythonEngine('srpy://127.0.0.1:1/0')
except srpy.SRPyServerNotFound:
    print('SRPyServerNotFound caught')

if proc is not None:
    proc.terminate()
    proc.wait()
print('done')
