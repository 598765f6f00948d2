"""What runs the function outside AWS: the local stack, the Imagga emulator, tooling."""
