// What the report draws of a trained encoder's features: the 2-D map of an evaluation split and
// the nearest-neighbour grid. Computed by lib/report-map.ts, drawn by lib/report-map-html.ts and
// carried in the report's input (lib/report.ts); kept here so that none of them imports another
// for its types.
import type { FeatureForm } from './forms';
import type { Thumbnail } from './thumbnail';

export interface MapClass {
  label: number;
  /** The data set's class name, or "class <label>" where it has none. */
  name: string;
  /** Drawn points of this class. */
  count: number;
}

export interface EmbeddingMap {
  /** The split drawn ('test', 'validation') and its images, all of which the PCA was fitted on. */
  split: string;
  size: number;
  /** The form the kNN compares features in; rows are also scaled to unit length (cosine). */
  form: FeatureForm;
  /** The drawn points, in drawing order: split rows, their coordinates on PC1 and PC2, labels. */
  rows: number[];
  x: number[];
  y: number[];
  labels: number[] | null;
  /** Fraction of the variance along PC1 and PC2. */
  explained: [number, number];
  converged: boolean;
  /** Classes among the drawn points, by label (empty without labels). */
  classes: MapClass[];
  /** Seed of the stratified draw of the points. */
  seed: number;
  /** Why the map is less than it could be (no labels), for the caption. */
  note?: string;
}

export interface NeighbourCell {
  /** Row of the kNN bank. */
  row: number;
  similarity: number;
  label?: number;
  className?: string;
  image: Thumbnail;
  /** Its class differs from the query's; null where either label is unknown. */
  wrong: boolean | null;
}

export interface NeighbourRow {
  /** Row of the query split. */
  row: number;
  label?: number;
  className?: string;
  image: Thumbnail;
  /** Most similar first. */
  neighbours: NeighbourCell[];
}

export interface NeighbourGrid {
  /** The query split and its images. */
  split: string;
  size: number;
  bankSize: number;
  k: number;
  form: FeatureForm;
  rows: NeighbourRow[];
  seed: number;
  note?: string;
}

export interface ReportViews {
  map: EmbeddingMap;
  grid: NeighbourGrid;
}
