"""The pure core: records, money, months, the workbook format, settlement and close. Standard library only: no files, no clock, no globals."""
