"""Google Sheets API v4 stand-in (plus the one Drive call the predecessor made), DESIGN §5.

Only what the product and gspread touch: spreadsheet metadata, `:batchUpdate`, the values API.
Auth is a bearer token `sa:<service-account e-mail>`: the sandbox has no OAuth server, and a token
that names its caller lets tests act as any service account without a lookup table.
"""
