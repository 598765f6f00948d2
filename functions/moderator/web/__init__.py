"""The review page (`python -m moderator review`): check an image, see what was decided, let a human overrule."""
