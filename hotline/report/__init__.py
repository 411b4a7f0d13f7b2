"""The monthly report (上报表): ``table`` lays it out (pure), ``xlsx`` draws the workbook, ``service`` reads the
month from the database and writes the file (``hotline report``)."""
