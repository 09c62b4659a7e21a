"""Read an .xlsx workbook with openpyxl (a real reader) and print what the
tests check, as JSON: per sheet its rows, the number format and data type
of each cell of the first data row, the frozen panes, the autofilter, the
column widths and the number of charts.  Used by test/t/005_export.pl."""
import datetime
import json
import sys

import openpyxl


def value(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return {"datetime": v.isoformat()}
    return v


def main(path):
    wb = openpyxl.load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        rows = [[value(v) for v in row] for row in ws.iter_rows(values_only=True)]
        second = [{"format": c.number_format, "type": c.data_type} for c in ws[2]] if ws.max_row >= 2 else []
        sheets.append({
            "name": ws.title,
            "rows": rows,
            "secondRow": second,
            "frozen": ws.freeze_panes,
            "autofilter": ws.auto_filter.ref,
            "bold": bool(ws["A1"].font.b),
            "widths": [ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width
                       for i in range(ws.max_column)],
            "charts": len(ws._charts),
        })
    json.dump({"sheets": sheets}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
