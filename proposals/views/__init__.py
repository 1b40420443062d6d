"""The portal's pages, by area: pages (home, health, profile), cities, calls, proposals."""
