"""Reports: the rich score table for terminals and the self-contained HTML file."""
