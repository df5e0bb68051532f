"""Hub firmware images (docs/IMAGES.md): the GBCS file layout and the app bundle."""
