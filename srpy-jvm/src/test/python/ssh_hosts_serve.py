"""Three ssh "hosts" (``srpy-py/tests/ssh_hosts.py``: network namespaces,
each with a real ``sshd``) for the JVM cluster tests, while stdin is open.

Prints ``hosts NAME...`` and ``ssh WORD<TAB>WORD...`` (the ssh command
that reaches them), or ``unavailable REASON`` when this machine cannot
make them. Then each line ``pids`` on stdin is answered with ``left N
{host: [pids]}`` (the srpy processes left on the hosts); at the end of
stdin the hosts are removed.
"""

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "srpy-py" / "tests"))

from ssh_hosts import Hosts, unavailable


def main() -> None:
    why = unavailable()
    if why is not None:
        print("unavailable", why, flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="jvm-ssh-hosts-") as tmp:
        hosts = Hosts(Path(tmp))
        try:
            print("hosts", " ".join(hosts.names))
            print("ssh", "\t".join(hosts.ssh_command), flush=True)
            for line in sys.stdin:
                if line.strip() == "pids":
                    left = {n: hosts.srpy_pids(n) for n in hosts.names}
                    print("left", sum(map(len, left.values())), json.dumps(left), flush=True)
        finally:
            hosts.close()


if __name__ == "__main__":
    main()
