// Numbers for people: sizes in binary units, rates, durations, times.
// Pure functions, no DOM (unit-tested under node).

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 0 bytes, 512 bytes, 1.5 KiB, 64 MiB, 4.7 GiB (3 significant digits). */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1024) return `${Math.round(n)} ${n === 1 ? 'byte' : 'bytes'}`;
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  const digits = n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${trimZeros(n.toFixed(digits))} ${UNITS[unit]}`;
}

/** Bytes per second as MiB/s (KiB/s below 1 MiB/s). */
export function formatRate(bytesPerSecond) {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '0 MiB/s';
  if (bytesPerSecond < 1024 * 1024) return `${Math.round(bytesPerSecond / 1024)} KiB/s`;
  const m = bytesPerSecond / (1024 * 1024);
  return `${m >= 100 ? Math.round(m) : m.toFixed(1)} MiB/s`;
}

/** 42 s, 3 min 05 s, 2 h 07 min. */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function trimZeros(text) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
