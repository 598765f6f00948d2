"""The whole system on one machine: moto, the Imagga emulator and an SQS event source mapping."""
