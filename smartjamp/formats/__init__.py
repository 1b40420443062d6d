"""One date format per language (issue 17), used by the portal, the admin, the print view,
the emails and the exports' human columns alike: Django reads them as FORMAT_MODULE_PATH.
Only what we choose differently from Django's own locale formats is here; numbers keep
Django's separators of each language (¥45,000,000; ¥45.000.000 in Indonesian and Vietnamese).
"""
