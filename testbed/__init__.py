"""What the tests and the benchmark share to drive real things: the docker CLI, Compose stacks,
wrk's report, free ports. It imports neither tests/ nor bench/, and both may import it."""
