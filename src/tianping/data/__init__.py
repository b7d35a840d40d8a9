"""Benchmark datasets: the catalog of what tianping can fetch, and fetching, checking and finding it.

``catalog`` pins every dataset (upstream, license, the hash, size and rows of each file); ``location`` finds the
data folder and the download settings (offline, mirror); ``check`` tells what a folder holds (cheaply, by size,
or thoroughly, by hash and row count); ``pull`` downloads from tianping's Hugging Face Hub mirror or from each
file's upstream repo at its pinned commit; ``ensure`` is what ``tianping run`` asks before it starts. The command
line is ``tianping.cli.data``.
"""
