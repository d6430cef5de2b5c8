# The demo's population PK fitted with R's nlme: the reference point users know.
#
# Called by benchmarks/fit_demo.py (Rscript benchmarks/fit_demo_nlme.R <nonmem.csv> <error>):
# 1-compartment oral, multiple-dose superposition (each subject's own doses from the data),
# log-scale fixed effects lKa, lCl (+ log(CRCL/100) and one shift per non-reference CYP2C9
# level), lV; allometric weight fixed inside the model function (CL x (WT/70)^0.75,
# V x WT/70); diagonal random effects on the three; error "combined"
# (varConstPower, power fixed at 1: sd = sigma (c + pred)) or "proportional" (varPower,
# power fixed at 1). nlme has no M3 likelihood: observations below the LLOQ are dropped (M1),
# and with them every subject without a quantified concentration (the placebo arm).
# Prints one line of JSON on stdout (no jsonlite needed).

suppressPackageStartupMessages(library(nlme))
t_start <- proc.time()[["elapsed"]]
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]
error <- if (length(args) >= 2) args[2] else "combined"

raw <- read.csv(path, na.strings = ".")
doses <- raw[raw$EVID == 1 & raw$AMT > 0, ]
obs <- raw[raw$EVID == 0 & raw$MDV == 0 & raw$CENS == 0, ]
blq <- raw$EVID == 0 & raw$MDV == 0 & raw$CENS == 1
n_blq_dropped <- sum(blq)
n_blq_dosed <- sum(blq & raw$ID %in% doses$ID)
n_subjects_data <- length(unique(raw$ID))
obs <- obs[obs$ID %in% doses$ID, ]

# padded per-observation dose tables: time since each earlier dose and its amount
by_id <- split(doses, doses$ID)
n_max <- max(vapply(by_id, nrow, 1L))
DT <- matrix(0, nrow(obs), n_max)
AMT <- matrix(0, nrow(obs), n_max)
for (i in seq_len(nrow(obs))) {
  d <- by_id[[as.character(obs$ID[i])]]
  dt <- obs$TIME[i] - d$TIME
  keep <- dt > 0
  DT[i, seq_len(nrow(d))] <- ifelse(keep, dt, 0)
  AMT[i, seq_len(nrow(d))] <- ifelse(keep, d$AMT, 0)
}

pk1 <- function(lKa, lCl, lV, WT, row) {
  ka <- exp(lKa)
  cl <- exp(lCl) * (WT / 70)^0.75
  v <- exp(lV) * WT / 70
  k <- cl / v
  dt <- DT[row, , drop = FALSE]
  e <- exp(-k * dt) - exp(-ka * dt)  # k and ka recycle along rows
  rowSums(AMT[row, , drop = FALSE] * e) * ka / (v * (ka - k))
}

obs$row <- seq_len(nrow(obs))
obs$lcrcl <- log(obs$CRCL / 100)
obs$cyp <- droplevels(factor(obs$CYP2C9))
obs$conc <- obs$DV
gd <- groupedData(conc ~ TIME | ID, data = obs)
n_cyp <- nlevels(obs$cyp) - 1
start <- c(lKa = log(1), lCl = c(log(4), 0.5, rep(0, n_cyp)), lV = log(40))
weights <- if (error == "combined") {
  varConstPower(const = 0.1, power = 1, fixed = list(power = 1))
} else {
  varPower(value = 1, fixed = 1)
}
t_fit <- proc.time()[["elapsed"]]
m <- try(nlme(
  conc ~ pk1(lKa, lCl, lV, WT, row),
  data = gd,
  fixed = list(lKa ~ 1, lCl ~ lcrcl + cyp, lV ~ 1),
  random = pdDiag(lKa + lCl + lV ~ 1),
  weights = weights,
  start = start,
  control = nlmeControl(maxIter = 200, pnlsMaxIter = 20, msMaxIter = 200, tolerance = 1e-6)
), silent = TRUE)
fit_s <- proc.time()[["elapsed"]] - t_fit

num <- function(x) if (is.na(x)) "null" else format(x, digits = 8)
obj <- function(x) paste0("{", paste0('"', names(x), '": ', vapply(x, num, ""), collapse = ", "), "}")
if (inherits(m, "try-error")) {
  cat(sprintf('{"ok": false, "error_model": "%s", "message": "%s", "fit_s": %s}\n',
              error, gsub('"|\n', " ", as.character(m)), num(fit_s)))
  quit(status = 0)
}
fe <- fixef(m)
se <- sqrt(diag(vcov(m)))
levels_cyp <- levels(obs$cyp)[-1]
re_sd <- as.numeric(VarCorr(m)[1:3, "StdDev"])  # rows lKa, lCl.(Intercept), lV
names(re_sd) <- c("omega_ka", "omega_cl", "omega_v")
vp <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
sigma <- m$sigma
resid <- if (error == "combined") {
  c(sigma_prop = sigma, sigma_add = sigma * vp[["const"]])
} else {
  c(sigma_prop = sigma)
}
cat(sprintf(paste0(
  '{"ok": true, "error_model": "%s", "fit_s": %s, "total_s": %s, "n_obs": %d, ',
  '"n_subjects": %d, "n_subjects_data": %d, "n_blq_dropped": %d, "n_blq_dropped_dosed": %d, ',
  '"fixef": %s, "se": %s, "omega": %s, ',
  '"residual": %s, "cyp_levels": [%s], "logLik": %s, "iterations": %s, "nlme": "%s", "r": "%s"}\n'),
  error, num(fit_s), num(proc.time()[["elapsed"]] - t_start), nrow(obs),
  length(unique(obs$ID)), n_subjects_data, n_blq_dropped, n_blq_dosed, obj(fe), obj(se), obj(re_sd), obj(resid),
  paste0('"', levels_cyp, '"', collapse = ", "), num(as.numeric(logLik(m))),
  num(m$numIter), as.character(packageVersion("nlme")), R.version.string))
