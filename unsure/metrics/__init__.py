"""Metrics for attribution maps, re-exported flat (``unsure.metrics.blurring_test``)."""
from .blurring import AUC_URR, MURR, BlurringResult, blurring_test  # noqa: F401
from .base import METRICS, MetricInfo, metric_info, register_metric  # noqa: F401,E402
from .anomaly import AnomalyResult, anomaly_localisation, make_anomalies, select_most_increased  # noqa: F401,E402
from .insertion_deletion import CurveResult, deletion_curve, insertion_curve  # noqa: F401,E402
from .sic_aic import PicResult, pic_metric  # noqa: F401,E402
from .localization import LocalizationResult, localization_scores, make_decoy  # noqa: F401,E402
from .ablation import centre_ablation, topk_ablation  # noqa: F401,E402
from .sanity import SanityResult, model_randomisation  # noqa: F401,E402
from .rotation import cam_object_overlap, compare, dice_iou, rotate, rotation_curve  # noqa: F401,E402
from .ood import auroc  # noqa: F401,E402
from .groundtruth import GroundTruthScores, disentanglement, groundtruth_scores  # noqa: F401,E402
from .complexity import complexity, effective_complexity  # noqa: F401,E402
from .feature_flipping import TrainingMedian, feature_flipping  # noqa: F401,E402
from .repeatability import repeatability  # noqa: F401,E402
from .input_stability import relative_input_stability  # noqa: F401,E402
from .rank_improvement import rank_improvement  # noqa: F401,E402
from .conveyance import conveyance_similarity, covariance_reference, dropconnect_reference, dropout_reference  # noqa: F401,E402
