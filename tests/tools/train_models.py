#!/usr/bin/python3
"""Train the small models the tests and benchmarks use, with Debian's
scikit-learn and xgboost, into OUTDIR/<name>/model.<ext>.

    /usr/bin/python3 tests/tools/train_models.py OUTDIR [NAME...]

Each model is trained on data that ships with scikit-learn (iris, diabetes)
or on a fixed random seed, so answers are reproducible.  The layout is the
one KServe's storage initializer gives a model server: one directory per
model holding exactly one model file.
"""
import os
import sys

import joblib
import numpy as np
from sklearn import datasets, svm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _out(root, name, filename):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, filename)


def sklearn_iris(root):
    # The seed's model: KServe's docs train exactly this.
    iris = datasets.load_iris()
    clf = svm.SVC(gamma="scale", probability=True, random_state=0)
    clf.fit(iris.data, iris.target)
    joblib.dump(clf, _out(root, "sklearn-iris", "model.joblib"))


def sklearn_iris_lr_pkl(root):
    iris = datasets.load_iris()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(iris.data, iris.target)
    joblib.dump(clf, _out(root, "sklearn-iris-lr", "model.pkl"))


def sklearn_iris_names(root):
    # String labels: predictions are class names (BYTES over V2).
    iris = datasets.load_iris()
    names = np.array(iris.target_names)[iris.target]
    clf = LogisticRegression(max_iter=1000)
    clf.fit(iris.data, names)
    joblib.dump(clf, _out(root, "sklearn-iris-names", "model.pickle"))


def sklearn_diabetes(root):
    d = datasets.load_diabetes()
    reg = LinearRegression()
    reg.fit(d.data, d.target)
    joblib.dump(reg, _out(root, "sklearn-diabetes", "model.joblib"))


def _xgb():
    import xgboost as xgb
    return xgb


def xgboost_iris(root):
    xgb = _xgb()
    iris = datasets.load_iris()
    dtrain = xgb.DMatrix(iris.data, label=iris.target)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 4,
              "eta": 0.3, "nthread": 1, "seed": 0}
    bst = xgb.train(params, dtrain, num_boost_round=20)
    bst.save_model(_out(root, "xgboost-iris", "model.bst"))
    bst.save_model(_out(root, "xgboost-iris-json", "model.json"))
    bst.save_model(_out(root, "xgboost-iris-ubj", "model.ubj"))


def xgboost_binary(root):
    xgb = _xgb()
    rng = np.random.RandomState(7)
    x = rng.rand(400, 6)
    y = (x[:, 0] + 0.5 * x[:, 3] > 0.8).astype(int)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0},
                    xgb.DMatrix(x, label=y), num_boost_round=15)
    bst.save_model(_out(root, "xgboost-binary", "model.json"))


def xgboost_diabetes(root):
    xgb = _xgb()
    d = datasets.load_diabetes()
    bst = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1, "seed": 0},
                    xgb.DMatrix(d.data, label=d.target), num_boost_round=25)
    bst.save_model(_out(root, "xgboost-diabetes", "model.bst"))


MODELS = {
    "sklearn-iris": sklearn_iris,
    "sklearn-iris-lr": sklearn_iris_lr_pkl,
    "sklearn-iris-names": sklearn_iris_names,
    "sklearn-diabetes": sklearn_diabetes,
    "xgboost-iris": xgboost_iris,
    "xgboost-binary": xgboost_binary,
    "xgboost-diabetes": xgboost_diabetes,
}


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: train_models.py OUTDIR [NAME...]\n")
        return 2
    root = argv[1]
    names = argv[2:] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.stderr.write("unknown model %s (known: %s)\n" % (n, ", ".join(MODELS)))
            return 2
        MODELS[n](root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
