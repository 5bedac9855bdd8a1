// Reads one process's CPU time (utime+stime from /proc/<pid>/stat) and memory (VmRSS, VmHWM from
// /proc/<pid>/status; RssAnon/RssFile split it into private and file-backed pages), so the control
// plane child is measured alone.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux in practice). */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / clockTicks();
}

export interface MemoryStats {
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  /** The process's own pages (RssAnon: heaps, buffers, stacks). */
  readonly privateBytes: number;
  /** File-backed pages (RssFile: mostly the executable's code and data, shared by every process running it). */
  readonly fileBytes: number;
}

export function memory(pid: number): MemoryStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return {
    rssBytes: kb('VmRSS'),
    peakRssBytes: kb('VmHWM'),
    privateBytes: kb('RssAnon') + kb('RssShmem'),
    fileBytes: kb('RssFile'),
  };
}

/** Measures a process's CPU over wall-clock spans: cores used = CPU seconds / wall seconds. */
export class CpuMeter {
  private cpu0: number;
  private t0: number;
  constructor(private readonly pid: number) {
    this.cpu0 = cpuSeconds(pid);
    this.t0 = performance.now();
  }
  /** Starts a new span. */
  reset(): void {
    this.cpu0 = cpuSeconds(this.pid);
    this.t0 = performance.now();
  }
  /** CPU seconds and cores used since the last reset. */
  read(): { cpuSeconds: number; wallSeconds: number; cores: number } {
    const cpu = cpuSeconds(this.pid) - this.cpu0;
    const wall = (performance.now() - this.t0) / 1000;
    return { cpuSeconds: cpu, wallSeconds: wall, cores: wall > 0 ? cpu / wall : 0 };
  }
}
