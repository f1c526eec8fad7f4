"""Development tools run from a checkout (tests, benchmarks); not part of the installed package."""
