// The palette's step templates: a step with sensible defaults for each step type.
import type { StepSpec } from "../api/types";

export interface StepTemplate {
  id: string;
  label: string;
  description: string;
  step: StepSpec;
}

export const STEP_TYPES = ["python", "data_prep", "train", "evaluate", "export", "custom"] as const;

export const STEP_TYPE_LABEL: Record<string, string> = {
  python: "Python script",
  data_prep: "Data preparation",
  train: "Torch training",
  evaluate: "Evaluation",
  export: "Model export",
  custom: "Custom container",
};

const PY = "python:3.11-slim";
const TORCH = "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime";

export const STEP_TEMPLATES: readonly StepTemplate[] = [
  {
    id: "python",
    label: STEP_TYPE_LABEL.python!,
    description: "Run a Python script",
    step: { name: "script", type: "python", image: PY, command: ["python", "main.py"], resources: { cpu: 1, memory_mb: 1024, gpu: 0, gpu_class: "" } },
  },
  {
    id: "data_prep",
    label: STEP_TYPE_LABEL.data_prep!,
    description: "Produce a dataset",
    step: {
      name: "prepare", type: "data_prep", image: PY, command: ["python", "prepare.py"], outputs: ["dataset"],
      resources: { cpu: 2, memory_mb: 4096, gpu: 0, gpu_class: "" },
    },
  },
  {
    id: "train",
    label: STEP_TYPE_LABEL.train!,
    description: "Train a model on a GPU",
    step: {
      name: "train", type: "train", image: TORCH, command: ["python", "train.py"], inputs: { dataset: "" }, outputs: ["model"],
      resources: { cpu: 4, memory_mb: 16384, gpu: 1, gpu_class: "" }, retries: 1, timeout_s: 14400,
    },
  },
  {
    id: "evaluate",
    label: STEP_TYPE_LABEL.evaluate!,
    description: "Score a model",
    step: {
      name: "evaluate", type: "evaluate", image: TORCH, command: ["python", "evaluate.py"], inputs: { model: "" }, outputs: ["metrics"],
      resources: { cpu: 2, memory_mb: 8192, gpu: 0, gpu_class: "" },
    },
  },
  {
    id: "export",
    label: STEP_TYPE_LABEL.export!,
    description: "Package a model for serving",
    step: {
      name: "export", type: "export", image: TORCH, command: ["python", "export.py"], inputs: { model: "" }, outputs: ["artifact"],
      resources: { cpu: 1, memory_mb: 4096, gpu: 0, gpu_class: "" },
    },
  },
  {
    id: "custom",
    label: STEP_TYPE_LABEL.custom!,
    description: "Any image, any command",
    step: { name: "step", type: "custom", image: "busybox:1.36", command: ["sh", "-c", "echo hello"], resources: { cpu: 0.5, memory_mb: 512, gpu: 0, gpu_class: "" } },
  },
];

export function templateById(id: string): StepTemplate | undefined {
  return STEP_TEMPLATES.find((t) => t.id === id);
}
