"""The web dashboard (``tianping serve``): every run of one or more result stores (SQLite or PostgreSQL) in one
read-only site.

``data`` reads the stores (their public methods only) into a snapshot cached per store version, ``boards``
turns it into leaderboards, model, compare and benchmark views, ``trends`` adds the model registry's release
dates (trend lines and the capability quadrant), ``votes`` stores human votes as battles in the result store,
``app`` serves the pages (FastAPI, Jinja2 with autoescaping) and ``export`` writes them as a static site.
"""
