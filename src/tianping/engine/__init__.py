"""Planning and executing runs: models x benchmarks x samples, journalled in the store."""
