"""The fault-injection soak: many awkward objects through the whole local stack while Imagga and S3 misbehave."""
