"""geodemand benchmark harness: geodemand against a named peer, same process, same data."""
