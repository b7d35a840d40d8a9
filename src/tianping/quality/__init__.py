"""Test-set quality (``tianping data check``): duplicates, leaked answers, malformed items, suspicious labels,
language mismatches and the ADAQ measures of a benchmark's data. ``source.read_benchmark`` reads it,
``runner.check_data`` runs the checks, ``html.render_report`` writes the report; docs/data-quality.md says what each
check decides and how it was validated."""
