"""The lamin_flows benchmark: the speed users feel, measured the same way on every machine.

Run it from the repository root::

    make bench                       # or: python -m benchmarks
    python -m benchmarks --quick     # tiny sizes, a few seconds (the smoke test runs this)
    python -m benchmarks --only large_file --only dataframe
    python -m benchmarks --list      # the steps and their targets

Each step runs in its own Python process with its own temporary ``LAMIN_HOME`` and working
folder (so no step sees another's instance, imports or caches) and everything it made is
removed afterwards. Short steps report the median of several runs; every comparison against a
reference (``md5sum``, ``cp``, plain pandas, the untracked function) is measured in the same
run and reported as a ratio. The results are printed as a table and written as JSON
(``benchmarks/results/latest.json`` by default).
"""
