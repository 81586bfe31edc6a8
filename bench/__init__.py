"""The benchmarks (``make bench``): the platform on its own ports and data folder, driven
through its public APIs with realistic data, each figure printed beside a baseline measured in
the same run on the same machine. See docs/performance.md."""
