// One measured number, next to the baseline measured in the same run.
export interface BenchRow {
  name: string;
  unit: string;
  value: number;
  baseline?: string;
  ratio?: number;
  note?: string;
}
