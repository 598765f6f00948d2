"""imagga-s3-moderator: moderate new S3 images with Imagga and quarantine the unsafe ones."""

__version__ = "0.1.0"
