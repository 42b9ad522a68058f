"""Suite-wide settings."""

from hypothesis import settings

# Property tests check behaviour, not speed: hypothesis' default 200 ms deadline per example
# fails on a loaded 2-core machine, so no example has a deadline here.
settings.register_profile("synthspace", deadline=None)
settings.load_profile("synthspace")
