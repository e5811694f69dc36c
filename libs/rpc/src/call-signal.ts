/**
 * An AbortSignal created only when a handler asks for it.
 *
 * Most handlers never look at their signal; making one eagerly (controller, deadline timer,
 * cancellation listener) would cost every call on the hot path. `dispose` clears the timer.
 */
export function createLazySignal(deadline: number | undefined, onCancel: (abort: () => void) => void) {
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const abortNow = () => {
    cancelled = true;
    controller?.abort(new DOMException('the call was cancelled', 'AbortError'));
  };
  onCancel(abortNow);
  return {
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController();
        if (cancelled) {
          controller.abort(new DOMException('the call was cancelled', 'AbortError'));
        } else if (deadline !== undefined) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) controller.abort(new DOMException('deadline exceeded', 'TimeoutError'));
          else {
            timer = setTimeout(
              () => controller!.abort(new DOMException('deadline exceeded', 'TimeoutError')),
              remaining,
            );
            timer.unref();
          }
        }
      }
      return controller.signal;
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
