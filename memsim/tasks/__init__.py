"""Tasks: data sets a model is trained on, registered by ``kind`` (``task.load(run_seed)`` -> data)."""

from .registry import TASKS, Dataset, data_generator, register_task, task_from_dict
from .regression import DiabetesTask, LinearRegressionTask
from .classification import (CLASSIFICATION_TASKS, BreastCancerTask, ClassificationData, DigitsTask, MNISTTask,
                             TeacherClassificationTask)
from .files import FileTask

__all__ = ["TASKS", "Dataset", "data_generator", "register_task", "task_from_dict", "LinearRegressionTask",
           "DiabetesTask", "CLASSIFICATION_TASKS", "ClassificationData", "DigitsTask", "BreastCancerTask",
           "MNISTTask", "TeacherClassificationTask", "FileTask"]
