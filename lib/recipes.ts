// Named training recipes. Each is a set of trainClsa options chosen on a validation split carved
// from Fashion-MNIST's training set (bench/recipe.js, docs/recipe.md), with the budget it was
// sized for; options the caller gives override the recipe's.
import type { TrainOptions } from './train';
import { describe } from './validate';

export type RecipeName = 'quick' | 'cpu-long' | 'gpu';

export interface Recipe {
  /** What it is for and the budget it was sized to. */
  summary: string;
  options: Partial<TrainOptions>;
}

export const RECIPES: Record<RecipeName, Recipe> = {
  quick: {
    summary: 'the default job: a few minutes on 2 CPU cores, 6000 training images',
    options: { arch: 'resnet-mini', width: 16, limit: 6000, epochs: 15, batchSize: 64, lr: 0.24 },
  },
  'cpu-long': {
    summary: 'up to an hour on 2 CPU cores, all training images',
    options: { arch: 'resnet-mini', width: 16, epochs: 10, batchSize: 64, lr: 0.24 },
  },
  gpu: {
    summary: 'sized for one GPU (not yet measured on one)',
    options: { arch: 'resnet18', epochs: 100, batchSize: 256, lr: 0.06 },
  },
};

export const RECIPE_NAMES = Object.keys(RECIPES) as RecipeName[];

/** The options of a run: the preset's (if any) under the caller's; undefined values do not override. */
export function recipeOptions(o: TrainOptions): TrainOptions {
  if (o.preset === undefined) return o;
  if (!Object.prototype.hasOwnProperty.call(RECIPES, o.preset))
    throw new RangeError(`options.preset: expected one of ${RECIPE_NAMES.map((n) => `'${n}'`).join(', ')} but got ${describe(o.preset)}`);
  const out: TrainOptions = { ...RECIPES[o.preset].options };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
