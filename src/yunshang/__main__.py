"""``python -m yunshang``: the same CLI as the ``yunshang`` command."""

from yunshang.cli import main

main()
