"""testbed/: what the tests and the benchmark share, where it decides something itself."""

from testbed.docker import lost_snapshot

# What the engine printed when it lost a snapshot under a build (moby/buildkit#6521).
LOST = (
    'ERROR: failed to solve: failed to prepare extraction snapshot "extract-645070961-fgKw '
    'sha256:6222927ee26f36764acf90a24f956610e8c373b35996e9f0a2adff85cc6dc36b": parent snapshot '
    "sha256:1291ce09036bd80da87705f176ca8a26329b59f4b9d07f5ce48b79173775f665 does not exist: "
    "not found"
)


def test_only_the_engines_lost_snapshot_is_tried_again() -> None:
    assert lost_snapshot(LOST)
    assert not lost_snapshot('ERROR: failed to solve: process "/bin/sh -c false" did not complete')
    assert not lost_snapshot("ERROR: failed to solve: failed to read dockerfile: does not exist")
