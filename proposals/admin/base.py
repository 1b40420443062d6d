"""What every change list of ours shares."""


class FilteredCountOnly:
    """Change lists without Django's second COUNT: beside the count of the filtered rows, the
    admin counts every row of the table on each page ("N total"), which over all proposals
    doubles the list's counting work. The filtered count and the pagination stay."""

    show_full_result_count = False
