"""The README's Python demo: drive the engines of a running server.

    python srpy-py/examples/demo.py srpy://127.0.0.1:7733
"""

import sys

import srpy


def main(uri: str) -> None:
    box = srpy.EngBox()
    box.startAndAppend(uri)  # a server URI adds all its engines
    print(f"connected to {len(box)} engine(s) at {uri}")
    for i, eng in enumerate(box):
        print(f"engine {i}: {eng.whoami()['PythonEngine ID']}")

    box.mrpwait(box.mrp.set(base=10))  # the original parallel multi-run: start, then wait
    box.exe("import math")  # broadcast
    print("mrp eval          :", list(box.mrpwait(box.mrp.eval("math.sqrt(base)")).values()))
    eng = box[0]
    eng.exe("print('hello from', __import__('os').getpid())")
    print("vexe (temporary)  :", eng.vexe("c = a * b", get=["c"], a=6, b=7))
    print("ns proxy          :", eng.ns.math.hypot(3, 4))
    try:
        eng.eval("{}['missing']")
    except KeyError as e:  # remote builtin exceptions are catchable as themselves
        print("remote KeyError   :", e.args[0] if e.args else e)
    squares = box.map(lambda x: x * x, range(10))  # load-balanced over the engines
    print("map               :", squares)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "srpy://127.0.0.1:7733")
