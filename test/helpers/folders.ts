// Class-sorted folders of PNG images cut from the shipped Fashion-MNIST subset, as a user's own
// images would be laid out: ROOT/<class>/<nnnn>.png, or ROOT/train/<class>/... and ROOT/test/<class>/...
import * as fs from 'fs';
import * as path from 'path';
import { loadDataset } from '../../lib/data';

export interface FolderSpec {
  /** Class names (sub-folder names); class i takes Fashion-MNIST label i. */
  classes: string[];
  /** Images per class. */
  perClass: number;
  /** Also write a test/ sub-folder with this many images per class (and put the others in train/). */
  testPerClass?: number;
}

/** Writes the folder and returns the pixels it holds per class, in file order. */
export async function writeClassFolder(root: string, spec: FolderSpec): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');
  const fm = await loadDataset('fashion-mnist', { split: 'train', fashionMnistDirs: [] });
  const per = 28 * 28;
  const need = spec.perClass + (spec.testPerClass ?? 0);
  for (let c = 0; c < spec.classes.length; c++) {
    const rows: number[] = [];
    for (let i = 0; i < fm.labels!.length && rows.length < need; i++) if (fm.labels![i] === c) rows.push(i);
    for (let j = 0; j < rows.length; j++) {
      const isTest = spec.testPerClass !== undefined && j >= spec.perClass;
      const dir = spec.testPerClass === undefined ? path.join(root, spec.classes[c]) : path.join(root, isTest ? 'test' : 'train', spec.classes[c]);
      fs.mkdirSync(dir, { recursive: true });
      const px = Buffer.from(fm.images.data.subarray(rows[j] * per, (rows[j] + 1) * per));
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(dir, `${String(j).padStart(4, '0')}.png`));
    }
  }
}
