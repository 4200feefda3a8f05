"""Image encoders and decoders."""
