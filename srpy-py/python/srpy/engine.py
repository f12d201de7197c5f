"""Engine process entry point: ``python -m srpy.engine``.

Engines are started by ``srpy-server``, which sends the engine's
configuration on stdin; running this module by hand is not useful.
"""

from srpy._srpy import engine_main

if __name__ == "__main__":
    engine_main()
