package eval

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// RunAccuracy is one official run's result.
type RunAccuracy struct {
	Run      string  `json:"run"`
	Correct  int     `json:"correct"`
	Items    int     `json:"items"`
	Accuracy float64 `json:"accuracy"`
}

// RunsReport is the official runs' figure: Report.Summary is over the run
// accuracies (Episodes counts runs; Mean is the mean run accuracy; CI95 is
// the 95% interval over the runs), and Overall is correct/items over every
// test item.
type RunsReport struct {
	Report
	Items   int           `json:"items"`
	Correct int           `json:"correct"`
	Overall float64       `json:"overall"`
	PerRun  []RunAccuracy `json:"per_run"`
}

// String is the figure as one line, with its protocol and dataset.
func (r RunsReport) String() string {
	return fmt.Sprintf("%.2f%% ± %.2f%%  (%s; %s, %d items, %d correct; %s classifier; dataset %s %.12s)",
		100*r.Mean, 100*r.CI95, r.Protocol, plural(r.Episodes, "run"), r.Items, r.Correct, r.Classifier, r.Dataset, r.Fingerprint)
}

// Runs classifies every test item of every official run against the run's
// training images with classifier c (when empty, DefaultClassifier of
// net's model; with one image per class NearestPrototype picks the same
// class as NearestNeighbour). Each image
// is embedded once, batch norm in evaluation mode. progress, when not nil,
// is called with (done, total) images embedded.
func Runs(net Net, runs *OfficialRuns, c Classifier, progress func(done, total int)) (RunsReport, error) {
	if c == "" && net.Model != nil {
		c = DefaultClassifier(net.Model.Config())
	}
	c, err := ParseClassifier(string(c))
	if err != nil {
		return RunsReport{}, fmt.Errorf("official runs: %w", err)
	}
	if net.Model == nil {
		return RunsReport{}, fmt.Errorf("official runs: no model")
	}
	if runs == nil || len(runs.Runs) == 0 {
		return RunsReport{}, fmt.Errorf("official runs: no runs to evaluate")
	}
	if c == SiameseHead && net.Model.Config().Loss != params.KindPairs {
		return RunsReport{}, fmt.Errorf("official runs: the siamese classifier needs a model trained with the siamese loss")
	}
	if c := net.Model.Config().InputChannels(); c != params.Gray {
		return RunsReport{}, fmt.Errorf("official runs %q: Omniglot's runs are grayscale, the model takes %d channels", runs.Source, c)
	}
	if s := net.Model.Config().Size; s != runs.Size {
		return RunsReport{}, fmt.Errorf("official runs %q: images are %d×%d, the model takes %d×%d; load them with size %d",
			runs.Source, runs.Size, runs.Size, s, s, s)
	}
	total := 0
	for _, run := range runs.Runs {
		total += len(run.Classes) + len(run.Items)
	}
	dim := net.Model.EmbedDim()
	px := runs.Size * runs.Size
	score := scoreFunc(net, c)
	rep := RunsReport{Report: Report{
		Protocol: OfficialRunsProtocol, Way: OfficialRunWay, Shot: 1, Classifier: c,
		Dataset: runs.Source, Fingerprint: runs.Fingerprint(),
	}}
	acc := make([]float64, 0, len(runs.Runs))
	done := 0
	for _, run := range runs.Runs {
		nc, ni := len(run.Classes), len(run.Items)
		if len(run.Training) != nc*px || len(run.Test) != ni*px || len(run.Labels) != ni || nc == 0 || ni == 0 {
			return RunsReport{}, fmt.Errorf("official runs %q: %s: %d classes, %d items, %d labels and %d+%d pixel bytes do not fit %d×%d images",
				runs.Source, run.Name, nc, ni, len(run.Labels), len(run.Training), len(run.Test), runs.Size, runs.Size)
		}
		pixels := make([]uint8, 0, (nc+ni)*px)
		pixels = append(append(pixels, run.Training...), run.Test...)
		emb, err := net.Model.Embed(net.Params, net.State, pixels, nc+ni)
		if err != nil {
			return RunsReport{}, fmt.Errorf("official runs %q: embed %s: %w", runs.Source, run.Name, err)
		}
		done += nc + ni
		if progress != nil {
			progress(done, total)
		}
		ee := newEpisodeEmbeddings(net, nc)
		for k := range ee.support {
			ee.support[k] = emb[k*dim : (k+1)*dim]
		}
		ra := RunAccuracy{Run: run.Name, Items: ni}
		for i := 0; i < ni; i++ {
			q := emb[(nc+i)*dim : (nc+i+1)*dim]
			if ee.predict(c, q, score) == run.Labels[i] {
				ra.Correct++
			}
		}
		ra.Accuracy = float64(ra.Correct) / float64(ni)
		rep.PerRun = append(rep.PerRun, ra)
		rep.Items += ni
		rep.Correct += ra.Correct
		acc = append(acc, ra.Accuracy)
	}
	rep.Summary = Summarize(acc)
	rep.Overall = float64(rep.Correct) / float64(rep.Items)
	return rep, nil
}
