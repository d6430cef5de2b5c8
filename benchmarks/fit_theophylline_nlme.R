# theo_sd fitted with R's nlme: the reference point users know (the classic Theoph example).
#
# Called by benchmarks/fit_theophylline.py (Rscript benchmarks/fit_theophylline_nlme.R <csv>):
# 1-compartment oral, single dose, self-starting SSfol (log ke, log ka, log CL), diagonal
# random effects on the three, constant (additive) error as twinlab's spec. Prints one line
# of JSON on stdout (no jsonlite needed).

suppressPackageStartupMessages(library(nlme))
t_start <- proc.time()[["elapsed"]]
raw <- read.csv(commandArgs(trailingOnly = TRUE)[1])
dose <- raw[raw$EVID != 0 & raw$AMT > 0, c("ID", "AMT")]
obs <- raw[raw$EVID == 0, ]
obs$Dose <- dose$AMT[match(obs$ID, dose$ID)]
gd <- groupedData(DV ~ TIME | ID, data = obs)
t_fit <- proc.time()[["elapsed"]]
m <- nlme(
  DV ~ SSfol(Dose, TIME, lKe, lKa, lCl),
  data = gd,
  fixed = lKe + lKa + lCl ~ 1,
  random = pdDiag(lKe + lKa + lCl ~ 1),
  start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2)
)
fit_s <- proc.time()[["elapsed"]] - t_fit
fe <- fixef(m)
ci <- intervals(m, which = "fixed")$fixed
num <- function(x) format(x, digits = 8)
# SSfol's clearance is per unit of Dose: with Dose in mg, exp(lCl) is in L/h
est <- c(
  ka = exp(fe[["lKa"]]), cl = exp(fe[["lCl"]]), v = exp(fe[["lCl"]] - fe[["lKe"]]),
  ka_low = exp(ci["lKa", "lower"]), ka_high = exp(ci["lKa", "upper"]),
  cl_low = exp(ci["lCl", "lower"]), cl_high = exp(ci["lCl", "upper"])
)
cat(sprintf(
  '{"fit_s": %s, "total_s": %s, "n_obs": %d, "sigma": %s, %s, "nlme": "%s"}\n',
  num(fit_s), num(proc.time()[["elapsed"]] - t_start), nrow(obs), num(m$sigma),
  paste0('"', names(est), '": ', vapply(est, num, ""), collapse = ", "),
  as.character(packageVersion("nlme"))
))
